package policy

import "time"

// SetClock makes c read the time from now, so that a test moves the time instead of waiting for it.
func (c *Cache) SetClock(now func() time.Time) { c.now = now }
