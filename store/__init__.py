"""Neptune's store: the platform database, tenancy, crypto and the embedded server.

`store` imports nothing else of Neptune's. Every tenant row carries `workspace_id`; every
repository is built with a `WorkspaceScope`; PostgreSQL row-level security enforces the same.
"""
