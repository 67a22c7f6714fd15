-- dynamic client registration: initial access tokens, policies, registration metadata
-- (placeholder until the feature lands; replaced in the same change that uses it)
SELECT 1;
