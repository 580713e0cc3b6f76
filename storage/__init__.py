"""Durable state of the gateway: objects (PDFs, fragments, scores, exports) and the database rows
that point at them. Blob first, row second: a row never names an object that is not stored."""
