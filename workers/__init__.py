"""bonas worker daemons: lease batches from the controller, train them, report the results."""
