"""Shared building blocks for every service. Imports no service package."""
