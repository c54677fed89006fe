-- Rows as a binary whose newest migration was 20261211000101_dpop_proofs
-- wrote them: a used DPoP proof, remembered until far in the future.
INSERT INTO dpop_proofs ("key", expires_at) VALUES ('proof-key', '2099-01-01 00:00:00+00:00');
