package runtime

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/killswitch"
)

// OpenKillSwitch opens the kill switch a bot configured by o watches, for an operator's tool
// (`keel halt|resume|status --config`): the killswitch.file of that configuration, kept in
// step with the fleet's Redis key when store.url is set, so one halt reaches every instance.
//
// Only the sections the switch needs must be valid: an operator halting a production bot need
// not hold its API secret. close releases the Redis connection, if any.
func OpenKillSwitch(o LoadOptions) (sw *killswitch.Switch, close func() error, err error) {
	c, _, err := loadUnvalidated(o)
	if err != nil {
		return nil, nil, err
	}
	if err := c.KillSwitch.Validate(); err != nil {
		return nil, nil, sectionError("killswitch", err)
	}
	if err := c.validateFleet(); err != nil {
		return nil, nil, err
	}
	if !c.fleetEnabled() {
		sw, err := killswitch.New(c.KillSwitch)
		return sw, func() error { return nil }, err
	}
	opt, err := redis.ParseURL(c.Store.URL)
	if err != nil {
		return nil, nil, &ConfigError{Key: "store.url", Reason: "not a Redis URL"}
	}
	opt.DialTimeout = time.Second
	rdb := redis.NewClient(opt)
	fl, err := fleet.New(rdb, fleet.Options{Prefix: c.Store.Prefix, InstanceID: c.Bot.InstanceID, Size: c.Fleet.Size,
		SlotLease: c.Store.SlotLease, Logger: zerolog.Nop()})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("runtime: store.url: %w", err)
	}
	sw, err = newKillSwitch(c, fl)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return sw, func() error { _ = fl.Close(); return rdb.Close() }, nil
}
