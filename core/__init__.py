"""Shared infrastructure the apps import: bulk SQL, DNS, lookups, rate windows, heartbeats."""
