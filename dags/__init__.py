"""The scheduled enrichment and upkeep jobs, one file each; a package so the import contract
(.importlinter) can check that nothing imports them."""
