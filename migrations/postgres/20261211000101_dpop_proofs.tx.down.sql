DROP TABLE IF EXISTS dpop_proofs;
