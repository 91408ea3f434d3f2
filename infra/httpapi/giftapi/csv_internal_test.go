package giftapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFreeTextCellsAreNeverSpreadsheetFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"courier refused": "courier refused", "": "",
	} {
		assert.Equal(t, want, cell(in), in)
	}
}

func TestCSVIsChosenOnlyWhenAccepted(t *testing.T) {
	assert.True(t, wantsCSV("text/csv"))
	assert.True(t, wantsCSV("application/json;q=0.5, Text/CSV; q=0.9"))
	assert.False(t, wantsCSV("application/json"))
	assert.False(t, wantsCSV(""))
	assert.False(t, wantsCSV("text/csvx"))
}
