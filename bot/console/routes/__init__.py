"""The console's pages, one module per area. Each module's `routes(console)` returns its
Starlette routes; bot/console/app.py puts them together."""
