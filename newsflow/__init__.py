"""newsflow: the shared runtime pieces (settings, clients, the local stack, the CLI)."""

__version__ = "0.1.0"
