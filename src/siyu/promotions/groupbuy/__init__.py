"""Group-buy (拼团): templates, groups opened and joined by share link, paid in time or refunded."""
