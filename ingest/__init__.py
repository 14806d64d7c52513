"""The batch ingestion job: readers -> chunking -> pipeline (encode, write to Milvus)."""
