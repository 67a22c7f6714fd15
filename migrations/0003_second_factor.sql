-- second factor (TOTP), recovery codes and lockout counters
-- (placeholder until the feature lands; replaced in the same change that uses it)
SELECT 1;
