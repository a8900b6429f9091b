"""Server backends: where a tenant's mail servers run (Hostwinds today). See `backend.py`."""
