# Kafka Connect with the Debezium PostgreSQL connector and Confluent's Avro
# converter (cp-kafka-connect ships the converter; the connector comes from
# Confluent Hub).
FROM confluentinc/cp-kafka-connect:7.7.1
RUN confluent-hub install --no-prompt debezium/debezium-connector-postgresql:2.5.4
