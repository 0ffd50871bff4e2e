"""The nightly's history: one record per night, trends and change points."""
