-- audit log (hash chain) and shared rate-limit counters
-- (placeholder until the feature lands; replaced in the same change that uses it)
SELECT 1;
