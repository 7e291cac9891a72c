"""asyncflow: an Airflow-style workflow orchestrator on one asyncio event loop."""
