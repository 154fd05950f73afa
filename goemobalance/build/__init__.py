"""The build's machinery: a typed context, stages as objects, the checksummed stage cache, the console,
the dry-run plan and the final summary. `goemobalance.pipeline.run_recipe` runs it; docs/architecture.md
has the stage table."""
