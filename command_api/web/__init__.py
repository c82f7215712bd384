"""The storefront and the admin dashboard: static pages that use only the public HTTP API."""
