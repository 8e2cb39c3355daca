"""PySide6 views and controllers. Nothing below app.ui imports this package."""
