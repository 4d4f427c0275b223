"""Roles on the switches, following the election (the app feeds it events).

    the election decides   -> every session asks its switch for MASTER (we
                              lead) or SLAVE (we follow), with the generation
    the switch confirms    -> a session that asked for MASTER becomes writable:
                              it re-reads the switch (a slave cannot see what
                              the old master did since) and then reconciles,
                              so a switch in sync gets no flow-mods
    we stop leading        -> every session stops writing at once, before the
                              switch is even told
    the switch refuses     -> stale generation: a newer leader exists; IS_SLAVE:
                              another controller took over -- either way, we
                              do not write
"""
from __future__ import annotations

import logging
from typing import Dict, Iterable

from controller.ha.roles import UNDECIDED, Outcome, SessionRole
from controller.openflow import role as ofrole
from controller.openflow.session import State, SwitchSession


class RoleKeeper:
    def __init__(self, log: logging.Logger):
        self.log = log
        self.outcome = UNDECIDED
        self.roles: Dict[int, SessionRole] = {}
        self.refusals = 0          # role requests the switches refused as stale

    def adopt(self, session: SwitchSession) -> None:
        """A new connection: it writes nothing until the switch confirms us as
        master.  Call before the session starts reading, so the read-back is
        answered after the role is settled."""
        self.roles[session.dpid] = SessionRole()
        session.set_writable(False)
        self._apply(session)

    def forget(self, dpid: int) -> None:
        self.roles.pop(dpid, None)

    def leadership(self, outcome: Outcome, sessions: Iterable[SwitchSession]) -> None:
        self.outcome = outcome
        for session in sessions:
            self._apply(session)

    def _apply(self, session: SwitchSession) -> None:
        state = self.roles.get(session.dpid)
        if state is None:
            return
        request = state.want(self.outcome)
        if not state.writable:
            session.set_writable(False)
        if request is not None:
            wanted, generation = request
            self.log.info('%s: asking for role %s (generation %d)', session.label,
                          wanted.name, generation)
            session.dp.send_msg(ofrole.role_request(session.dp, wanted, generation))

    def on_reply(self, session: SwitchSession, msg) -> bool:
        """The switch confirmed a role.  True when the session just became
        writable: it then re-reads the switch, and the app syncs it once the
        read-back is in (as on a new connection)."""
        state = self.roles.get(session.dpid)
        if state is None:
            return False
        confirmed = ofrole.role_of_reply(msg)
        promoted = state.confirm(confirmed, msg.generation_id)
        self.log.info('%s: the switch confirms role %s (generation %d)', session.label,
                      confirmed.name, msg.generation_id)
        if promoted:
            session.set_writable(True)
            if session.state is not State.READING:     # a read in flight is already fresh
                session.start_reading('became master')
        return promoted

    def on_error(self, session: SwitchSession, msg) -> bool:
        """A role error, or a write refused because we are SLAVE there: True
        when handled here (the app need not count it against a change)."""
        state = self.roles.get(session.dpid)
        if state is None:
            return False
        if ofrole.is_role_error(msg):
            self.refusals += ofrole.is_stale(msg)
            self.log.warning('%s: the switch refused our role request%s; not writing to it',
                             session.label, ' as stale: a newer leader has taken over'
                             if ofrole.is_stale(msg) else f' (code {msg.code})')
        elif ofrole.is_slave_refusal(msg):
            self.log.warning('%s: the switch says another controller is master; not writing '
                             'to it', session.label)
        else:
            return False
        state.refused()
        session.set_writable(False)
        return True
