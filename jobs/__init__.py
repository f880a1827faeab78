"""Scheduled work: the daily offer, cut-off, delivery notices; their schedule and runner."""
