-- One Postgres server, one database each for Prefect and MLflow.
CREATE DATABASE prefect OWNER driftloop;
CREATE DATABASE mlflow OWNER driftloop;
