package giftapi

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/loyaltyforge/loyalty/domain/fulfillment"
	"github.com/loyaltyforge/loyalty/infra/httpapi"
	giftrm "github.com/loyaltyforge/loyalty/readmodels/gift"
)

var exchangeStatuses = []string{
	string(fulfillment.StatusAccepted), string(fulfillment.StatusShipmentRequested), string(fulfillment.StatusShipped),
	string(fulfillment.StatusInTransit), string(fulfillment.StatusDelivered), string(fulfillment.StatusFailed),
	string(fulfillment.StatusCancelled),
}

func exchangeFilter(c echo.Context) (giftrm.ExchangeFilter, error) {
	f := giftrm.ExchangeFilter{Status: c.QueryParam("status"), UserID: c.QueryParam("user_id"), GiftID: c.QueryParam("gift_id")}
	if f.Status != "" && !slices.Contains(exchangeStatuses, f.Status) {
		return f, httpapi.BadRequest("status must be one of %s", strings.Join(exchangeStatuses, ", "))
	}
	for _, id := range []struct{ name, v string }{{"user_id", f.UserID}, {"gift_id", f.GiftID}} {
		if id.v != "" {
			if err := httpapi.ID(id.name, id.v); err != nil {
				return f, err
			}
		}
	}
	for _, t := range []struct {
		name string
		to   **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if raw := c.QueryParam(t.name); raw != "" {
			v, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				return f, httpapi.BadRequest("%s must be an RFC 3339 time", t.name)
			}
			*t.to = &v
		}
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return f, httpapi.Invalid("to", "must not be before from")
	}
	return f, nil
}

// listAllExchanges is the operators' list of every member's exchanges, newest first, as keyset
// pages, or as CSV when asked for (Accept: text/csv): every matching row, streamed.
func (h *handlers) listAllExchanges(c echo.Context) error {
	f, err := exchangeFilter(c)
	if err != nil {
		return err
	}
	if wantsCSV(c.Request().Header.Get(echo.HeaderAccept)) {
		return h.exportExchanges(c, f)
	}
	return exchangePage(c, func(ctx context.Context, after *giftrm.ExchangeCursor, limit int) ([]giftrm.Exchange, *giftrm.ExchangeCursor, error) {
		return h.Queries.Exchanges(ctx, f, after, limit)
	})
}

// wantsCSV reports whether text/csv is among the accepted types (JSON stays the default).
func wantsCSV(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}

var csvHeader = []string{"exchange_id", "user_id", "gift_id", "quantity", "points_price", "points_spent", "status",
	"failure_reason", "carrier", "express_no", "created_at", "updated_at"}

// csvFlushEvery bounds what sits in the writer's buffer before it goes to the client.
const csvFlushEvery = 256

func (h *handlers) exportExchanges(c echo.Context, f giftrm.ExchangeFilter) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set("Content-Disposition", `attachment; filename="exchanges.csv"`)
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	n := 0
	err := h.Queries.EachExchange(c.Request().Context(), f, func(x giftrm.Exchange) error {
		var reason, carrier, expressNo string
		if x.FailureReason != nil {
			reason = *x.FailureReason
		}
		if x.Shipment != nil {
			carrier, expressNo = x.Shipment.Carrier, x.Shipment.ExpressNo
		}
		if err := w.Write([]string{x.ExchangeID, x.UserID, x.GiftID, strconv.Itoa(x.Quantity),
			strconv.FormatInt(x.PointsPrice, 10), strconv.FormatInt(x.PointsSpent, 10), x.Status,
			cell(reason), cell(carrier), cell(expressNo),
			x.CreatedAt.Format(time.RFC3339Nano), x.UpdatedAt.Format(time.RFC3339Nano)}); err != nil {
			return err
		}
		if n++; n%csvFlushEvery == 0 {
			w.Flush()
			res.Flush()
		}
		return w.Error()
	})
	w.Flush()
	if err != nil {
		// The status is sent: all that can be done is to stop; the client has the rows so far
		// and the operator the log line.
		c.Logger().Error("exchanges export: ", err)
		return nil
	}
	return w.Error()
}

// cell keeps free text from being read as a formula by a spreadsheet.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
