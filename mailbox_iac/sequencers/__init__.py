"""Clients of the sequencers a tenant's mailboxes are connected to (Instantly, Smartlead)."""
