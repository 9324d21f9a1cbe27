"""The Textual dashboard. This package is the only place that imports Textual."""
