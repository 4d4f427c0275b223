"""What the running controller tells monitoring: Prometheus metrics and
drop counters.

    catalogue  the list of metrics: name, type, labels, help
    metrics    every metric, on a registry of its own; `wsgi_app()` serves it
    appstate   gauges and counters read from the app when scraped
    drops      drop counters per datapath, table and reason, kept monotonic
    dropstats  asking the switches for one sum per drop reason and their meters;
               a port's own drop flows on demand
    meters     which punt a meter limits: its drops' reason and table

The app (and the API, which serves /metrics and /v1/drops) imports this
package; it imports only the layers below it, and the sessions report
their events through `controller.openflow.observer`, which `metrics`
implements.
"""
