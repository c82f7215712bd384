"""The ticketing domain: concerts, ticket types (the inventory) and orders."""
