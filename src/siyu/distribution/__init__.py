"""Distribution (the b of S2b2C): distributors, links, attribution, commissions, touchpoints."""
