"""The course side: Altair plots (``plots``) and the per-chapter widgets (``widgets.ch1`` …)."""
