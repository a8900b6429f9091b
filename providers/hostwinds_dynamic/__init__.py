"""Pulumi dynamic provider for Hostwinds Cloud: servers (`Instance`) and reverse DNS (`ReverseDns`)."""
