"""Catalog (the S of S2b2C): suppliers, products and SKUs, materials, inventory and reservations."""
