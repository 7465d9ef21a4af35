"""Inbound mail: reception (the MX's durable hand-off) and the processing pipeline."""
