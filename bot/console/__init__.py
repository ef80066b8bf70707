"""The staff console: review, follow up and resolve escalated conversations."""
