// Package gift holds the gift exchange's command side: the catalog (define a gift, adjust its
// stock), ExchangeCredits (reserve stock on the gift stream, then deduct the points with the
// exchange record on the member's stream, then commit the reservation), the timeout sweeper of
// reservations, and the fulfillment process manager that drives each exchange's saga.
//
// Every handler appends to one stream at a time (DESIGN rule 1); gift streams are hot and go
// through one hotstream.Writer (rule 2).
package gift
