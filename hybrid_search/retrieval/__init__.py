"""Retrieval routes: each turns an encoded query into a ranked candidate list from Milvus."""
