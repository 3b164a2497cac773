-- wrk script for the refresh scenario: every request presents a different, never-used refresh
-- token (rotation makes each single-use), read from $TOKENS_FILE starting after line $TOKENS_OFFSET.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = tonumber(os.getenv("TOKENS_OFFSET") or "0")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = os.getenv("WRK_AUTH") }

request = function()
  i = i + 1
  -- Past the end: an invalid token, so exhaustion shows up as non-2xx responses instead of replays.
  local t = tokens[i] or "exhausted"
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. t)
end
