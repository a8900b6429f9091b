"""Pulumi dynamic provider for Hostwinds Cloud: servers (`Instance`) and reverse DNS (`ReverseDns`)."""

# What create_instance accepts; here, so that validating a spec needs neither the provider nor the SDK.
BILLING_CYCLES = ("monthly", "quarterly", "semiannually", "annually", "biennially", "triennially", "hourly")
