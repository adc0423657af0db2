"""Renderers: reports and diagnostics as text, JSON and the CI formats."""
