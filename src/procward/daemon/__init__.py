"""The procward daemon: the supervisor's RPC surface on top of ``procward.kit``."""
