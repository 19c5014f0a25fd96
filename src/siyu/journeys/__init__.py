"""Journeys (lifecycle SOPs): definitions, durable execution, built-in SOPs and metrics."""
