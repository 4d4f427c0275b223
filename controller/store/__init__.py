"""The topology in etcd: one YAML document under PREFIX/topology.

    url       etcd://HOST:PORT[,HOST:PORT...]/PREFIX, parsed (StoreURL)
    client    etcd v3 JSON gateway with etcd3gw: range, compare-and-put, watch
    document  read / write-if-unchanged / history of the document
    cache     the agent's local copy of the last good document
    source    the controller's side: first document, then a watch

Imports only `controller.topology`, so every layer above may use it.
"""
from controller.store.client import EtcdClient, StoreUnavailable
from controller.store.document import Conflict, HistoryEntry, Stored, TopologyStore
from controller.store.url import StoreURL, StoreURLError, is_store_url, parse_store_url

__all__ = ['Conflict', 'EtcdClient', 'HistoryEntry', 'StoreURL', 'StoreURLError',
           'StoreUnavailable', 'Stored', 'TopologyStore', 'is_store_url', 'parse_store_url']
