"""Logs and request ids shared by the OMR server, the gateway and `etude serve`."""
