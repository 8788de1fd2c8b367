"""The Textual dashboard: live (`cnntui run`) and replay/tail (`cnntui watch`).

Import `cnntui.tui.app` for the entry points; this package itself imports nothing heavy.
"""
