"""The OCPP gateway (SPEC F13): chargers speaking OCPP 2.0.1 or 1.6J join as platform-managed devices.

``gateway`` admits stations at the websocket upgrade (security profiles 2
and 3); ``v201`` / ``v16`` handle each version's CALLs with the ``ocpp``
library; ``station`` records them through the device surface's own store
functions and puts setpoints to the station as charging profiles;
``mapping`` turns OCPP payloads into domain values. Served by ``vgi serve``
when ``ocpp_listen`` is set.
"""
