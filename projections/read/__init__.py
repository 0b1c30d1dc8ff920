"""The read side: materialised views fed from the notification log (see tables.py)."""
