"""One module per fault; each has ``run(platform, *, short: bool, options) -> Tally``."""
